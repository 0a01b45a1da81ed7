"""Control: commands that change every worker at runtime: applied, sent, and sent by alerts."""
