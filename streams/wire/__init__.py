"""The wire: event contracts, topics, and the settings every process reads."""
