"""`python -m simulator --url URL --token TOKEN`: the simulate command without the CLI group."""

from simulator.cli import command

if __name__ == "__main__":
    command(prog_name="python -m simulator")
