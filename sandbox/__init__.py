"""The Bitrix24 sandbox portal: a local, independent stand-in for a real portal."""
