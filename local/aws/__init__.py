"""What plays AWS on this machine, one package per AWS service, as moto lays out its own."""
