"""Small leaf helpers shared by every layer; they import nothing from stratum but `exceptions`."""
