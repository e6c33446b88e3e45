"""Models the project can name: the fetchable-model catalogue (models/*.yaml) and its converter."""
