"""A user's own project: a model, a loss and a balancer plugged into balancelab through _target_."""
