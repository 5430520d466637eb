"""trainrig tutorial: learn digits 5-9 from few images, starting from a model trained on digits 0-4."""
