"""Reports: CSV summaries, plots and Pareto fronts."""
