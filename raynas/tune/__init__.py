"""Ray Tune integration: the searcher adapter and the search entry points."""
