"""Export graphs (``.keras`` + SavedModel) and load them back with their custom objects."""
