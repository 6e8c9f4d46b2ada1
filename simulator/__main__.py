"""`python -m simulator --url URL --token TOKEN`: the simulate command without the CLI group."""

from simulator.cli import simulate

if __name__ == "__main__":
    simulate(prog_name="python -m simulator")
