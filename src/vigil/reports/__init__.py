"""Reports: HTML (and later PDF) renderings of monitor results."""
