"""Keys at rest: the master key that wraps every secret openvod stores."""
