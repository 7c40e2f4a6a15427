from plg.cli import main

main()
