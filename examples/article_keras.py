"""The Keras program of the article "Very Short Intro to Neural Networks", running on nerve.

As the article writes it, with ``import keras`` changed to ``from nerve import keras`` and
MNIST to Fashion-MNIST (which ``load_data()`` finds in Debian's ``dataset-fashion-mnist``
package or Keras's cache when there is no network). Two epochs, then the accuracy and loss
curves are saved to ``article_keras_history.png``.

    python examples/article_keras.py
"""

from nerve import keras
from nerve.keras.layers import Dense, Flatten
from nerve.keras.models import Sequential

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
y_train, y_test = keras.utils.to_categorical(y_train), keras.utils.to_categorical(y_test)

model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(10, activation="softmax"),
])
model.summary()

model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=2, validation_data=(x_test, y_test))

out = model.predict(x_test[:20])
print("predictions for 20 test images:", out.argmax(axis=1))
print("their labels:                  ", y_test[:20].argmax(axis=1))
print("validation accuracy after 2 epochs:", round(history.history["val_accuracy"][-1], 4))
keras.utils.plot_history(history, "article_keras_history.png")
