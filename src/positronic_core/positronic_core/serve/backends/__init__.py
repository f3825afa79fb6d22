"""Model backends the policy server can load."""
