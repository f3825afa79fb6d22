from positronic_core.bags.pre_roll import PreRoll

SECOND = 1_000_000_000


def test_keeps_only_the_last_window_of_receive_time():
    pre_roll = PreRoll(window_ns=SECOND)
    for i in range(30):
        pre_roll.hold("/joint_states", "sensor_msgs/msg/JointState", bytes([i]), i * SECOND // 10)
    assert len(pre_roll) == 11
    assert [h.data[0] for h in pre_roll.take_since(0)] == list(range(19, 30))


def test_a_bag_gets_what_arrived_from_its_episodes_start_and_nothing_earlier():
    pre_roll = PreRoll(window_ns=SECOND)
    pre_roll.hold("/joint_states", "sensor_msgs/msg/JointState", b"before", 100)
    pre_roll.hold("/policy/timeline", "std_msgs/msg/String", b"first chunk", 250)
    pre_roll.hold("/joint_states", "sensor_msgs/msg/JointState", b"after", 300)
    taken = pre_roll.take_since(250)
    assert [(h.topic, h.data) for h in taken] == [("/policy/timeline", b"first chunk"), ("/joint_states", b"after")]
    assert len(pre_roll) == 0 and pre_roll.take_since(0) == []
