from imgpar.cli import main

main()
