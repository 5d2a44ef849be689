"""What each GraphQL field does: load, authorize, validate, call segmentation/actors."""
