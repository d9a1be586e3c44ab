/** Public API of @fleetnet/netflow. */
export {};
