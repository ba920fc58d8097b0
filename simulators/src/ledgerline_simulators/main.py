import sys


def main() -> None:
    sys.exit(f"no simulator named {sys.argv[1:]!r} yet")
