"""`python -m pipelines.cli`."""

from pipelines.cli import app

if __name__ == "__main__":
    app()
