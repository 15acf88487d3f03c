import sys

try:
    from reportgen.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: nothing has started
    sys.stderr.write("reportgen: interrupted before the run started; nothing was written\n")
    sys.exit(130)

main()
