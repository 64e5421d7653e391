-- Expand: 2.0.0 writes the node that served a visit; 1.0.0 names its columns and ignores it.
ALTER TABLE visits ADD COLUMN node VARCHAR(64) NULL;
