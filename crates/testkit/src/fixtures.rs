//! Small, valid domain values and the store rows tests start from.
use orderflow_core::ports::{Store, UserRecord};
use orderflow_core::{
    Currency, Email, Money, Order, OrderLine, PasswordHash, Product, ProductId, ProductName,
    Quantity, User, UserId, UserName,
};

/// A registered user with `email` (the hash is a placeholder: no test logs in with it).
pub async fn given_user(store: &dyn Store, email: &str) -> UserId {
    given_user_with_hash(store, email, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").await
}

/// A registered user with `email` whose stored password hash is `phc`.
pub async fn given_user_with_hash(store: &dyn Store, email: &str, phc: &str) -> UserId {
    let user = User {
        id: UserId::generate(),
        name: UserName::parse("Test User").unwrap(),
        email: Email::parse(email).unwrap(),
        created_at: orderflow_core::now(),
    };
    let record = UserRecord {
        user: user.clone(),
        password_hash: PasswordHash::from_phc(phc.to_owned()),
    };
    assert!(store.insert_user(&record).await.unwrap(), "{email} is new");
    user.id
}

/// The password hash stored for the user registered with `email` (as normalized).
pub async fn stored_password_hash(store: &dyn Store, email: &str) -> PasswordHash {
    let record = store.user_by_email(email).await.unwrap();
    record
        .unwrap_or_else(|| panic!("{email} is registered"))
        .password_hash
}

/// The password of [`EARLIER_COST_HASH`].
pub const EARLIER_COST_PASSWORD: &str = "a legacy password";
/// An Argon2id hash of the cost new hashes had before (12 MiB, 3 passes), which logins
/// replace with one of the current cost.
pub const EARLIER_COST_HASH: &str = "$argon2id$v=19$m=12288,t=3,p=1$8sn2id9BPV0FE1X5B/0Rsw$8g8p1V8J8n8iqm0P6IydtIlNxOTyZyayM3FbUWa94xw";

/// A USD product named after its id.
pub fn product(id: &str, price: i64, stock: u32) -> Product {
    Product {
        id: ProductId::parse(id).unwrap(),
        name: ProductName::parse(&format!("Product {id}")).unwrap(),
        unit_price: Money::new(price, Currency::USD).unwrap(),
        stock,
    }
}

/// A PENDING order of `lines` (product id, quantity), priced from `catalog`.
pub fn order_of(user: UserId, catalog: &[Product], lines: &[(&str, i64)]) -> Order {
    let lines = lines
        .iter()
        .map(|(id, quantity)| {
            let p = catalog.iter().find(|p| p.id.as_str() == *id).unwrap();
            OrderLine {
                product_id: p.id.clone(),
                name: p.name.clone(),
                quantity: Quantity::parse(*quantity).unwrap(),
                unit_price: p.unit_price,
            }
        })
        .collect();
    Order::place(user, lines, orderflow_core::now()).unwrap()
}
