"""CLI subcommands, one module per feature; planner/cli.py collects their COMMANDS lists."""
