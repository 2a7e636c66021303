"""Stage 1, read: open any input file, find its header, recognise its layout, and return its
rows losslessly as text (the raw layer), with the file's row numbers kept."""
