from asyncpy.cli.main import main

main()
