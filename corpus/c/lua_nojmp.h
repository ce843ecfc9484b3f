/* Force-included (-include) into every Lua source file of the corpus build.
 * wasm32-wasi has no setjmp/longjmp without the exception-handling proposal,
 * so Lua's error recovery is replaced: a protected call just runs its body and
 * a raised error prints the message and exits with status 1 (lua_main.c).
 * Consequence: pcall/error recovery and coroutine.yield (which throws) do not
 * work; the corpus script uses neither. */
/* skip wasi-libc's <setjmp.h> (ldo.c includes it; it #errors without wasm EH) */
#define _SETJMP_H
struct lua_State;
void corpus_lua_throw(struct lua_State *L);
#define LUAI_THROW(L, c) corpus_lua_throw(L)
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int
/* deterministic string hashing (default mixes in time(NULL)) */
#define luai_makeseed(L) 0x2545F491u
/* wasi-libc has no <signal.h> (without emulation); Lua only needs the type */
#define l_signalT int
