from plg.cli import entry

entry()
