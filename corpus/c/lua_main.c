/* Lua 5.4 embedding for the corpus: registers a global Lua function pause(n)
 * that calls the pausing import env.pause, then runs an embedded script whose
 * loop calls pause(i) every 500 iterations and mixes the result into a checksum. */
#include <stdio.h>
#include <stdlib.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

void corpus_lua_throw(lua_State *L) {  /* see lua_nojmp.h */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "lua error: %s\n", msg ? msg : "(error object is not a string)");
    exit(1);
}

static int l_pause(lua_State *L) {
    lua_pushinteger(L, host_pause((int)luaL_checkinteger(L, 1)));
    return 1;
}

static const char script[] =
    "local checksum, pauses = 7, 0\n"
    "local counts = {}\n"
    "local function mix(c, v) return (c * 31 + v) & 0x7fffffff end\n"
    "for i = 0, 99999 do\n"
    "  checksum = mix(checksum, i ~ (checksum >> 7))\n"
    "  if i % 500 == 0 then\n"
    "    checksum = mix(checksum, pause(i))\n"
    "    pauses = pauses + 1\n"
    "    local w = string.format('%s:%x', ({'alpha','beta','gamma','delta'})[pauses % 4 + 1], i)\n"
    "    counts[#w] = (counts[#w] or 0) + 1\n"
    "  end\n"
    "end\n"
    "local hist = {}\n"
    "for len = 1, 20 do if counts[len] then hist[#hist + 1] = len .. 'x' .. counts[len] end end\n"
    "print(string.format('lua: checksum=%d pauses=%d hist=%s', checksum, pauses, table.concat(hist, ',')))\n";

int main(void) {
    lua_State *L = luaL_newstate();
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_register(L, "pause", l_pause);
    if (luaL_loadstring(L, script) != LUA_OK) corpus_lua_throw(L);
    lua_call(L, 0, 0);
    lua_close(L);
    return 0;
}
