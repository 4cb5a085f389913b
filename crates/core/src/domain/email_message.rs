use super::{Email, Order, OrderStatus, User};

/// An email ready to send, in text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: Email,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Names what this email is about, (order, status): one email per key.
    pub idempotency_key: String,
}

impl EmailMessage {
    /// The email an order's user gets when it reaches a status that
    /// [`OrderStatus::is_emailed`]; none for any other status.
    pub fn for_order(order: &Order, user: &User) -> Option<Self> {
        let (subject, opening) = match order.status {
            OrderStatus::Processed => (
                format!("Order {} confirmed", order.id),
                "Thank you for your order. It has been processed.".to_owned(),
            ),
            OrderStatus::Failed => {
                let reason = order
                    .history
                    .last()
                    .and_then(|change| change.reason.clone())
                    .unwrap_or_else(|| "it could not be processed".to_owned());
                (
                    format!("Order {} could not be processed", order.id),
                    format!(
                        "We are sorry: your order could not be processed ({reason}). You have not been charged and the items were released."
                    ),
                )
            }
            _ => return None,
        };
        let name = user.name.as_str();
        let mut text = format!("Hello {name},\n\n{opening}\n\nOrder {}\n\n", order.id);
        let mut rows = String::new();
        for line in &order.lines {
            let total = line.line_total().unwrap_or(line.unit_price);
            text.push_str(&format!(
                "  {} x {} ({}) at {} = {}\n",
                line.quantity.get(),
                line.name.as_str(),
                line.product_id,
                line.unit_price,
                total
            ));
            rows.push_str(&format!(
                "<tr>\n<td>{}</td>\n<td>{}</td>\n<td>{}</td>\n<td>{}</td>\n</tr>\n",
                line.quantity.get(),
                escape(line.name.as_str()),
                line.unit_price,
                total
            ));
        }
        text.push_str(&format!(
            "\nTotal: {}\nStatus: {}\n",
            order.total, order.status
        ));
        // An element a line: lines under 76 characters travel as they are (7bit), where one
        // long line had to be quoted-printable encoded, for every email.
        let html = format!(
            "<!doctype html>\n<html>\n<body>\n<p>Hello {},</p>\n<p>{}</p>\n\
             <p>Order <code>{}</code></p>\n<table>\n<thead>\n<tr>\n<th>Qty</th>\n<th>Item</th>\n\
             <th>Price</th>\n<th>Total</th>\n</tr>\n</thead>\n<tbody>\n{rows}</tbody>\n</table>\n\
             <p><strong>Total: {}</strong></p>\n<p>Status: {}</p>\n</body>\n</html>\n",
            escape(name),
            escape(&opening),
            order.id,
            order.total,
            order.status
        );
        Some(Self {
            to: user.email.clone(),
            to_name: name.to_owned(),
            subject,
            text,
            html,
            idempotency_key: format!("{}-{}", order.id, order.status.as_str().to_lowercase()),
        })
    }
}

fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Currency, Money, OrderLine, ProductId, ProductName, Quantity, UserId, UserName,
    };

    fn fixture(status: OrderStatus) -> (Order, User) {
        let user = User {
            id: UserId::generate(),
            name: UserName::parse("Ada <script>").expect("valid"),
            email: Email::parse("ada@example.com").expect("valid"),
            created_at: crate::now(),
        };
        let line = OrderLine {
            product_id: ProductId::parse("sku-mug").expect("valid"),
            name: ProductName::parse("Mug & saucer").expect("valid"),
            quantity: Quantity::parse(2).expect("valid"),
            unit_price: Money::new(1999, Currency::USD).expect("valid"),
        };
        let mut order = Order::place(user.id, vec![line], crate::now()).expect("valid");
        order.status = status;
        (order, user)
    }

    #[test]
    fn confirmation_lists_lines_and_total() {
        let (order, user) = fixture(OrderStatus::Processed);
        let email = EmailMessage::for_order(&order, &user).expect("an email");
        assert!(email.subject.contains(&order.id.to_string()));
        assert!(email.text.contains("2 x Mug & saucer"));
        assert!(email.text.contains("Total: 39.98 USD"));
        assert!(email.html.contains("Mug &amp; saucer"));
        assert!(!email.html.contains("<script>"), "names are escaped");
        assert_eq!(email.idempotency_key, format!("{}-processed", order.id));
        // Lines under 76 characters travel as they are (7bit), with no transfer encoding.
        for line in email.text.lines().chain(email.html.lines()) {
            assert!(line.len() < 76, "{line:?}");
        }
    }

    #[test]
    fn only_terminal_outcomes_are_emailed() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Processing,
            OrderStatus::Cancelled,
        ] {
            let (order, user) = fixture(status);
            assert!(EmailMessage::for_order(&order, &user).is_none());
            assert!(!status.is_emailed());
        }
        assert!(OrderStatus::Processed.is_emailed() && OrderStatus::Failed.is_emailed());
        let (order, user) = fixture(OrderStatus::Failed);
        let email = EmailMessage::for_order(&order, &user).expect("an email");
        assert!(email.subject.contains("could not be processed"));
    }
}
