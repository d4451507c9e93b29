"""Lets ``python -m bulletin`` run the command line."""

from bulletin.cli import main

main()
