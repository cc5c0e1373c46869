//! 100,000 spawned tasks all run and deliver their outputs.

#[test]
fn one_hundred_thousand_tasks() {
    ringloop::run(async {
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| {
                ringloop::spawn(async move {
                    if i % 3 == 0 {
                        ringloop::yield_now().await;
                    }
                    i * 2
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        assert_eq!(sum, 99_999 * 100_000);
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(m.tasks, 0, "every task finished and was freed");
    });
}
