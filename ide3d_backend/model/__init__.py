"""The networks of the paper's Fig. 2, one file each."""
