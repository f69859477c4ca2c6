from cnnstep.cli import main

main()
