from asyncpy.cli.wasmopt import main

main()
