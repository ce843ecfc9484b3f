from asyncpy.wasmopt import main

main()
