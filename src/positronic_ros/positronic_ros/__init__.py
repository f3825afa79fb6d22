"""rclpy adapters over positronic_core. Conversions between ROS messages and the core's types live in
`conversions`; nodes hold no logic the in-process runtime would also need."""
