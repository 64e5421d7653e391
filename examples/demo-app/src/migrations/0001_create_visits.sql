-- The home page records every visit (lib/visits.php).
CREATE TABLE visits (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  page VARCHAR(255) NOT NULL,
  release_version VARCHAR(64) NOT NULL,
  visited_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;
