"""The `tektii` command line: argparse, built from the commands plugins register."""
