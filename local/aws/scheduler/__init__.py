"""EventBridge Scheduler: schedules that invoke their function through the in-process runner, on the virtual clock."""
