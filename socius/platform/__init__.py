"""The platform: league, data and operations (config, jobs, dashboard, CLI). Imports everything."""
