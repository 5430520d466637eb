"""trainrig tutorial: classify scikit-learn's 8x8 digit images with a small CNN."""
