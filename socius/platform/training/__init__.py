"""Training: match tickets, runner actors, the weight pool and the training loop."""
