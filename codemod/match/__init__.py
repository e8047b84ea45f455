"""What matches: call chains, target methods and the sites inside them."""
