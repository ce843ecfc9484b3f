/* QuickJS embedding for the corpus: registers a global JS function pause(n)
 * that calls the pausing import env.pause, then runs an embedded script whose
 * loop calls pause(i) every 1000 iterations and mixes the result into a
 * checksum. Prints the script's result and exits 0. */
#include <stdio.h>
#include <string.h>
#include "quickjs.h"

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

static JSValue js_pause(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    int n = 0;
    if (argc > 0 && JS_ToInt32(ctx, &n, argv[0])) return JS_EXCEPTION;
    return JS_NewInt32(ctx, host_pause(n));
}

static const char script[] =
    "function mix(c, v) { return (Math.imul(c, 31) + v) | 0; }\n"
    "const words = ['alpha', 'beta', 'gamma', 'delta'];\n"
    "let checksum = 7, pauses = 0, text = 0;\n"
    "const seen = new Map();\n"
    "for (let i = 0; i < 200000; i++) {\n"
    "  checksum = mix(checksum, i ^ (checksum >>> 7));\n"
    "  if (i % 1000 === 0) {\n"
    "    checksum = mix(checksum, pause(i));\n"
    "    pauses++;\n"
    "    const w = words[(i / 1000) % 4] + ':' + i.toString(16);\n"
    "    seen.set(w.length, (seen.get(w.length) || 0) + 1);\n"
    "    text += w.length;\n"
    "  }\n"
    "}\n"
    "const hist = [...seen.entries()].sort((a, b) => a[0] - b[0]).map(e => e.join('x')).join(',');\n"
    "`checksum=${checksum >>> 0} pauses=${pauses} text=${text} hist=${hist}`;\n";

int main(void) {
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "pause", JS_NewCFunction(ctx, js_pause, "pause", 1));
    JS_FreeValue(ctx, global);

    JSValue r = JS_Eval(ctx, script, strlen(script), "<corpus>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(r)) {
        JSValue e = JS_GetException(ctx);
        const char *msg = JS_ToCString(ctx, e);
        fprintf(stderr, "js error: %s\n", msg ? msg : "?");
        return 1;
    }
    const char *s = JS_ToCString(ctx, r);
    printf("quickjs: %s\n", s);
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, r);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    return 0;
}
