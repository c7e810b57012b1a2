"""Use cases: transactions, authorization, state transitions, events and jobs after commit."""
