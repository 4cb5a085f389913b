//! The StatusBroadcaster contract. `$fresh()` makes a broadcaster; watchers hear the changes
//! of their order, in order, from subscription on.
use std::time::Duration;

use futures::StreamExt;
use orderflow_core::ports::{StatusBroadcaster, StatusEvent};
use orderflow_core::{OrderId, OrderStatus};

#[macro_export]
macro_rules! broadcast_contract_tests {
    ($fresh:path) => {
        $crate::broadcast_contract_tests!(@each $fresh;
            watchers_hear_their_orders_changes_in_order,
            publishing_with_nobody_watching_is_fine,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let broadcaster = $fresh().await;
                $crate::broadcast_contract::$name(&broadcaster).await;
            }
        )*
    };
}

pub async fn watchers_hear_their_orders_changes_in_order(broadcaster: &dyn StatusBroadcaster) {
    let (mine, other) = (OrderId::generate(), OrderId::generate());
    let mut watching = broadcaster.subscribe(mine).await.unwrap();
    let event = |order_id, status| StatusEvent { order_id, status };
    for (order, status) in [
        (mine, OrderStatus::Processing),
        (other, OrderStatus::Processing),
        (mine, OrderStatus::Processed),
    ] {
        broadcaster.publish(event(order, status)).await.unwrap();
    }
    let heard: Vec<StatusEvent> = tokio::time::timeout(Duration::from_secs(5), async {
        let mut heard = Vec::new();
        while heard.len() < 2 {
            heard.push(watching.next().await.unwrap());
        }
        heard
    })
    .await
    .expect("both changes arrive");
    assert_eq!(
        heard,
        [
            event(mine, OrderStatus::Processing),
            event(mine, OrderStatus::Processed)
        ]
    );
}

pub async fn publishing_with_nobody_watching_is_fine(broadcaster: &dyn StatusBroadcaster) {
    let event = StatusEvent {
        order_id: OrderId::generate(),
        status: OrderStatus::Cancelled,
    };
    broadcaster.publish(event).await.unwrap();
}
