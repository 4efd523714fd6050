"""Operations: where actors run on a cluster, live metrics, job submission and the dashboard."""
