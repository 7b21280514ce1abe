"""Fine-tuning algorithms, one file each (recipe style: the whole loop is in the file)."""
